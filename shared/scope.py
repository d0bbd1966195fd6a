"""Who may see what: a coordinator's scope is a set of communities, districts
or cities, and a scope on a district or a city covers every community below it.
Each service keeps the tree from `aid.community.changed.v1` and asks it here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shared.http import Principal


class CommunityTree:
    """Parent links of communities, districts and cities (from a read model)."""

    def __init__(self, parents: Mapping[str, str | None]) -> None:
        self.parents = dict(parents)
        self.children: dict[str, list[str]] = {}
        for code, parent in self.parents.items():
            if parent is not None:
                self.children.setdefault(parent, []).append(code)

    def lineage(self, code: str) -> tuple[str, ...]:
        """`code`, its parent, its parent's parent... (a cycle stops the walk)."""
        chain = [code]
        while (parent := self.parents.get(chain[-1])) is not None and parent not in chain:
            chain.append(parent)
        return tuple(chain)

    def expand(self, codes: Iterable[str]) -> frozenset[str]:
        """`codes` and everything below them."""
        found: set[str] = set()
        pending = list(codes)
        while pending:
            code = pending.pop()
            if code not in found:
                found.add(code)
                pending.extend(self.children.get(code, ()))
        return frozenset(found)


def covers(principal: Principal, community: str | None, tree: CommunityTree) -> bool:
    """Whether `principal` may see and act on something of `community`.
    Admins see everything; a thing of no community only admins see."""
    if principal.is_admin:
        return True
    if community is None:
        return False
    return not principal.communities.isdisjoint(tree.lineage(community))


def visible_communities(principal: Principal, tree: CommunityTree) -> frozenset[str] | None:
    """The communities a list is filtered to; None for an admin (no filter)."""
    return None if principal.is_admin else tree.expand(principal.communities)

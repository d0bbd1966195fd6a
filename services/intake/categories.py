"""The catalogue of what people ask for, from the care hotline's real mix
(DOMAIN.md: 12,900 calls).  Requests in a category that needs no volunteer
are recorded and routed to coordinators, not to teams."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    needs_volunteer: bool


CATALOGUE: dict[str, Category] = {
    c.code: c
    for c in (
        Category("daily_necessities", "生活物资", "Daily necessities", True),
        Category("protective_supplies", "防护用品", "Protective supplies", True),
        Category("medicine", "药品", "Medicine", True),
        Category("psychological_support", "心理疏导", "Psychological support", True),
        Category("policy_question", "政策咨询", "Policy question", False),
        Category("suggestion", "意见建议", "Suggestion", False),
        Category("thanks", "感谢", "Thanks", False),
        Category("other", "其他", "Other", True),
    )
}

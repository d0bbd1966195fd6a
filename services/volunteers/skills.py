"""The skills catalogue and what each skill lets a team take on (DOMAIN.md:
delivery, medicine purchase, counselling, distribution points, help for
the elderly and those without a smartphone, testing-queue marshalling)."""

SKILL_CATEGORIES: dict[str, frozenset[str]] = {
    "delivery": frozenset({"daily_necessities", "protective_supplies", "other"}),
    "medicine_purchase": frozenset({"medicine"}),
    "counselling": frozenset({"psychological_support"}),
    "supplies_distribution": frozenset({"daily_necessities", "protective_supplies"}),
    "elderly_support": frozenset({"daily_necessities", "medicine", "other"}),
    "testing_marshal": frozenset({"other"}),
}


def categories_served(skills: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    served: set[str] = set()
    for skill in skills:
        served |= SKILL_CATEGORIES.get(skill, frozenset())
    return tuple(sorted(served))

"""`clearline selfcheck`: the customer self-check page of a policy, one self-contained HTML file."""

from __future__ import annotations

import click

from clearline.disclosures.selfcheck import phrases, selfcheck_page
from clearline.engine.errors import did_you_mean

from .common import Failed, error, load_compiled


@click.command("selfcheck")
@click.argument("policy_path", metavar="POLICY", type=click.Path(dir_okay=False))
@click.option("--lang", help="Language the page opens in (default: the policy's first).")
@click.option(
    "-o",
    "--output",
    default="-",
    show_default=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="HTML file to write.",
)
@click.option(
    "--lender-only",
    "lender_only",
    multiple=True,
    metavar="FACT",
    help="Also leave this fact out (facts marked known_to_customer: false are left out anyway). Repeat.",
)
def selfcheck(
    policy_path: str, lang: str | None, output: str, lender_only: tuple[str, ...]
) -> None:
    """Write a page where a customer tries the published rules on their own situation."""
    policy = load_compiled(policy_path).policy
    languages = policy.metadata.languages
    chosen = lang or languages[0]
    if chosen not in languages or chosen not in phrases():
        offered = [language for language in languages if language in phrases()]
        error(
            f"the self-check page can be written in {', '.join(offered) or 'no language'} "
            f"of this policy, not `{chosen}`",
            code="D102",
        )
        raise Failed()
    known = [fact.name for fact in policy.facts]
    unknown = [name for name in lender_only if name not in known]
    for name in unknown:
        error(f"--lender-only: unknown fact `{name}`{did_you_mean(name, known)}", code="F001")
    if unknown:
        raise Failed()
    page = selfcheck_page(policy, chosen, lender_only)
    with click.open_file(output, "w", encoding="utf-8") as out:
        out.write(page)

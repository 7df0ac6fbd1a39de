"""The docs stand alone: nothing in the repository points at files users do not have."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_points_outside_the_repository():
    offenders = []
    for path in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py"),
                 *(ROOT / "tests").rglob("*.py"), *(ROOT / "scripts").rglob("*")]:
        if path.is_file() and path != Path(__file__).resolve():
            text = path.read_text(errors="replace")
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(r"\.\./shared/\S*", text)]
    assert not offenders, offenders


def test_every_reference_section_cited_exists():
    sections = set(re.findall(r"^## (\d+)\.", (ROOT / "docs" / "REFERENCE.md").read_text(), re.M))
    cited = set()
    for path in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py")]:
        cited |= set(re.findall(r"REFERENCE\.md`? sections? (\d+)", path.read_text()))
    assert cited and cited <= sections, cited - sections

"""The shape docs/architecture.md describes holds: one package per capability with the same role-named files,
modules small enough to hold in mind, and code that cites only the project's own documents."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEEL = ROOT / "keel"
CAPABILITIES = {
    "datacontrol/export": {"actions.py", "job.py", "api.py", "views.py", "urls.py", "tests"},
    "datacontrol/restore": {"actions.py", "job.py", "api.py", "views.py", "urls.py", "tests"},
    "datacontrol/backups": {"actions.py", "job.py", "api.py", "views.py", "urls.py", "tests"},
    "datacontrol/crm_deletion": {"actions.py", "job.py", "api.py", "views.py", "urls.py", "tests"},
    "datacontrol/company_deletion": {"actions.py", "job.py", "api.py", "views.py", "urls.py", "tests"},
    "contacts/imports": {"actions.py", "job.py", "api.py", "views.py", "urls.py", "tests"},
}
MODULE_LINES = 400
TEST_MODULE_LINES = 450  # a test module may run a little longer: one scenario per function, spelled out


def code_modules():
    return [p for p in KEEL.rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("package", sorted(CAPABILITIES))
def test_each_capability_is_one_package_with_role_named_files(package):
    present = {p.name for p in (KEEL / package).iterdir()}
    assert CAPABILITIES[package] <= present, f"{package} lacks {sorted(CAPABILITIES[package] - present)}"


def test_no_module_grows_past_what_one_person_can_hold_in_mind():
    too_long = []
    for path in code_modules():
        limit = TEST_MODULE_LINES if "tests" in path.parts else MODULE_LINES
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines (limit {limit})")
    assert too_long == []


def test_code_and_docs_cite_only_the_projects_own_documents():
    brief = "DESIGN " + "§"  # spelled apart so that this file does not cite it either
    places = [*code_modules(), *(ROOT / "bench").rglob("*.py"), *(ROOT / "docs").glob("*.md"), ROOT / "README.md"]
    citing = [str(p.relative_to(ROOT)) for p in places if brief in p.read_text(encoding="utf-8")]
    assert citing == []


def test_no_test_module_imports_another_test_module():
    offenders = []
    for path in KEEL.rglob("test_*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(("from ", "import ")) and ".test_" in line.split(" import ")[0]:
                offenders.append(f"{path.relative_to(ROOT)}: {line}")
    assert offenders == []

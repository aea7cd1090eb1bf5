"""The mutation table (tools/mutants.py, run by ``./lab mutants``) still matches the code.

Each mutant plants a bug by replacing one exact snippet; a refactor that changes the snippet
would silently disable it. These cheap checks fail instead, and say to update the table.
"""

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_table():
    spec = importlib.util.spec_from_file_location("irvae_mutants", ROOT / "tools" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


MUTANTS = load_table().MUTANTS


def test_every_mutant_snippet_occurs_exactly_once_in_its_file():
    problems = []
    for m in MUTANTS:
        path = ROOT / m.file
        count = path.read_text().count(m.original) if path.is_file() else 0
        if count != 1:
            problems.append(f"{m.name}: its original snippet occurs {count} times in {m.file}")
        elif m.replacement == m.original:
            problems.append(f"{m.name}: the replacement equals the original")
    assert not problems, ("the code moved under these mutants; update their snippets in tools/mutants.py so that "
                          "each still plants its bug: " + "; ".join(problems))


def test_every_mutant_runs_tests_that_exist():
    problems = []
    for m in MUTANTS:
        for target in m.tests:
            file, _, test = target.partition("::")
            path = ROOT / file
            if not path.is_file():
                problems.append(f"{m.name}: no test file {file}")
            elif test and not re.search(rf"^def {re.escape(test.split('[')[0])}\(", path.read_text(), re.M):
                problems.append(f"{m.name}: no test {test} in {file}")
    assert not problems, "update the tests named in tools/mutants.py: " + "; ".join(problems)


def test_the_table_holds_the_bugs_of_issue_19_under_unique_names():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    for required in ("geometry.cond_uses_second_eigenvalue", "regularizers.mixup_ignores_eta",
                     "regularizers.exact_gradient_halved", "kinematics.rotation_on_the_wrong_side",
                     "training.resume_forgets_best_val", "pages.latent_shows_vor_as_mse",
                     "pages.home_swaps_mcn_and_vor", "latent.reconstruction_is_the_input"):
        assert required in names
    assert len(MUTANTS) >= 20

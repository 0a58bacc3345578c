"""Sums the TRX files of one `dotnet test` run and prints the closing line `N passed, M failed`
(`, K skipped` when any), after the names of the failed tests. Exits non-zero on any failure,
including a test run that crashed or produced no results.

usage: summarize_trx.py RESULTS_DIR DOTNET_TEST_EXIT_CODE
"""

import pathlib
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def main(results_dir: str, dotnet_status: str) -> int:
    passed = failed = skipped = 0
    failures = []
    files = sorted(pathlib.Path(results_dir).glob("*.trx"))
    for trx in files:
        root = ET.parse(trx).getroot()
        for result in root.iterfind(".//t:UnitTestResult", NS):
            outcome = result.get("outcome")
            if outcome == "Passed":
                passed += 1
            elif outcome == "NotExecuted":
                skipped += 1
            else:
                failed += 1
                failures.append(f"{result.get('testName')} ({outcome})")
    status = int(dotnet_status)
    print()
    for name in failures:
        print(f"FAILED {name}")
    if status != 0 and failed == 0:
        # dotnet test failed without a failed test: a build problem or a crashed test host.
        print(f"the test run itself failed (dotnet test exit code {status}, {len(files)} result files)")
        failed = 1
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

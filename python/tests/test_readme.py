"""The Python example of README.md ("Using dtx from Python") runs as
written, against the test system (its endpoint and database names
substituted, keys from the environment as the README says)."""

import os
import re
import subprocess
import sys

import dtx

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def readme_example():
    with open(README) as readme:
        text = readme.read()
    section = text.split("## Using dtx from Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "README's Python section has %d python blocks" % len(blocks)
    return blocks[0]


def test_readme_example_runs(system):
    code = (readme_example().replace("tcp://127.0.0.1:7100", system.endpoint)
            .replace('"bank1"', '"db1"').replace('"bank2"', '"db2"'))
    before = [system.value(i, "SELECT balance FROM accounts WHERE id = %d" % (1, 7)[i])
              for i in range(2)]
    env = dict(os.environ, DTX_CLIENT_CERT=system.client_secret,
               DTX_COORDINATOR_CERT=system.coordinator_cert,
               PYTHONPATH=os.path.dirname(os.path.dirname(dtx.__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("committed dtx:"), out.stdout
    after = [system.value(i, "SELECT balance FROM accounts WHERE id = %d" % (1, 7)[i])
             for i in range(2)]
    assert [int(a) - int(b) for a, b in zip(after, before)] == [-100, 100]

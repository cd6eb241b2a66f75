"""The Spark session's JVM keeps its stderr in the driver log, so nothing it prints lands in a notebook cell."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from altaviz.config import get_settings
from altaviz.io.logs import stderr_to
from altaviz.io.spark import driver_log_path


def test_a_child_started_inside_stderr_to_keeps_writing_to_the_log(tmp_path):
    log = tmp_path / "logs" / "child.log"
    before = os.fstat(2)
    with stderr_to(log):
        child = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; time.sleep(0.5); print('late line', file=sys.stderr)"]
        )
    after = os.fstat(2)
    child.wait()
    assert log.read_text() == "late line\n"  # written after the block ended, still in the log
    assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)  # this process got its stderr back


def test_the_jvm_writes_its_stderr_to_the_driver_log(spark):
    marker = f"altaviz-marker-{uuid.uuid4().hex}"
    jvm_stderr = spark._jvm.java.lang.System.err
    jvm_stderr.println(marker)
    jvm_stderr.flush()
    assert marker in driver_log_path(get_settings()).read_text().splitlines()


def test_a_jvm_that_cannot_start_is_reported_with_the_log_tail(tmp_path):
    script = "from altaviz.io.spark import get_spark\nget_spark()\n"
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "ALTAVIZ_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    log = tmp_path / "data" / "logs" / "spark-driver.log"
    missing_java = f"{tmp_path / 'no-java'}/bin/java"
    assert missing_java in log.read_text()
    assert "Spark did not start" in result.stderr and f"last lines of {log}:" in result.stderr
    # the log's last lines close the error the user sees
    assert result.stderr.strip().splitlines()[-1] == log.read_text().strip().splitlines()[-1]

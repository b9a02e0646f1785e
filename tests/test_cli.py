"""The command line: ``skmim --version``, ``skmim demo --help`` and a small demo."""

import pytest

from skmim import __version__
from skmim._cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"skmim {__version__}"


def test_demo_help_describes_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--n-features", "--n-samples", "--n-test", "--link", "--noise", "--device",
                   "--seed", "--threads", "--verbose", "--quiet"):
        assert option in out
    for default in ("(default: 256)", "(default: 16 * n_features)", "(default: 10000)",
                    "(default: h2+h2)", "(default: 0.1)", "(default: auto)", "(default: 1)"):
        assert default in out


def test_small_demo_prints_device_threads_and_the_table(capsys):
    import torch

    threads = torch.get_num_threads()  # the suite's (SKMIM_TEST_THREADS), left as it is
    assert main(["demo", "--n-features", "16", "--n-test", "500", "--quiet", "--device", "cpu",
                 "--threads", str(threads)]) == 0
    out = capsys.readouterr()
    assert "device: cpu" in out.out and f"torch threads: {threads}" in out.out
    table = out.out[out.out.index("method"):]
    assert len([line for line in table.splitlines() if " s" in line or line.endswith("s")]) >= 4
    assert "skmim MultiIndexNetRegressor (refined)" in table
    assert out.err == ""  # --quiet: no bar


@pytest.mark.parametrize("args, message", [
    (["--n-features", "0"], "--n-features: must be an integer >= 1"),
    (["--n-samples", "1"], "--n-samples: must be an integer >= 2"),
    (["--noise", "-1"], "--noise: must be a finite number >= 0"),
    (["--threads", "-2"], "--threads: must be an integer >= 0"),
    (["--verbose", "3"], "--verbose: invalid choice"),
    (["--seed", "-1"], "--seed: must be an integer in [0, 4294967293]"),
    (["--n-test", "1"], "--n-test: must be an integer >= 2"),
    # valid one by one, not together: the demo's own error, as a usage error
    (["--n-features", "1"], "n_directions=2 exceeds n_features=1"),
    (["--n-features", "4", "--n-samples", "2", "--device", "cpu"], "too few samples"),
    (["--n-features", "4", "--device", "bogus"], "device='bogus' is not a valid torch device"),
])
def test_demo_rejects_invalid_options_with_a_usage_error(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["demo"] + args)
    assert exc.value.code == 2  # argparse's usage error, not a traceback
    assert message in capsys.readouterr().err

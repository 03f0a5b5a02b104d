"""`minillm costs report` (minillm/commands/costs_report.py): the memory wall, the smallest number of GPUs
per strategy for a 100 B model, as printed."""


def test_costs_report_prints_the_answer(capsys):
    from minillm.commands.costs_report import memory_wall_report

    memory_wall_report()
    out = capsys.readouterr().out
    assert "100b (101.2 B parameters, 2,048 tokens)" in out
    line = next(s for s in out.splitlines() if s.strip().startswith("fsdp") and "62.0 GB" in s)
    assert "N = 32" in line


def test_costs_report_refuses_a_bad_gpu_size_before_printing(capsys):
    from minillm.commands.cli import main

    assert main(["costs", "report", "--gpu-gb", "0"]) == 2
    out, err = capsys.readouterr()
    assert (
        out == ""
        and err.strip() == "minillm costs report: error: --gpu-gb must be a positive number of gigabytes, got 0.0"
    )

"""`minillm costs report` (minillm/commands/costs_report.py): the memory wall, the smallest number of GPUs
per strategy for a 100 B model, as printed."""


def test_costs_report_prints_the_answer(capsys):
    from minillm.commands.costs_report import memory_wall_report

    memory_wall_report()
    out = capsys.readouterr().out
    assert "100b (101.2 B parameters, 2,048 tokens)" in out
    line = next(s for s in out.splitlines() if s.strip().startswith("fsdp") and "62.0 GB" in s)
    assert "N = 32" in line

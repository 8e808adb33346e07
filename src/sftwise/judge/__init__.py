"""Model-based evaluation: a rubric autorater, pairwise judging in both orders, calibration against humans.

The workflow, one command per step::

    sftwise judge runs/x/eval --judge openai:MODEL@http://127.0.0.1:8000/v1 --rubric task_specific -o runs/x/eval
    sftwise judge runs/x/eval --against runs/base/eval --judge ... --rubric instruction_following -o runs/x/vs-base
    sftwise label runs/x/eval --db labels.sqlite --annotator alice --rubric task_specific
    sftwise calibrate --human labels.sqlite --judge-results runs/x/eval [--judge-results OTHER ...]
    sftwise calibrate --human labels.csv --search grid.yaml --results runs/x/eval

Library entry points:

* :mod:`sftwise.judge.rubric`: :class:`Rubric` (YAML), :func:`load_rubric`, :func:`builtin_rubrics`,
  :func:`render_pointwise`, :func:`render_pairwise`;
* :mod:`sftwise.judge.autorater`: :func:`run_judge` (a results directory in, one with judge scores
  out), :func:`judge_pointwise`, :func:`judge_pairwise`, :func:`position_bias`, :class:`JudgeReport`;
* :mod:`sftwise.judge.parse`: :func:`parse_pointwise`, :func:`parse_pairwise` (never guess a score);
* :mod:`sftwise.judge.stats`: agreement statistics with bootstrap CIs (parity with scikit-learn/scipy);
* :mod:`sftwise.judge.calibrate`: :func:`calibrate`, :func:`search`, :class:`CalibrationReport`;
* :mod:`sftwise.judge.labels` and :mod:`sftwise.judge.label_server`: human labels in SQLite and the web app.
* :mod:`sftwise.judge.label_guard`: the token, Host, Origin and body-type checks that keep other web pages out of it.

Submodules are imported on use, so ``import sftwise.judge`` stays cheap.
"""

"""The grading service: students submit, a worker grades as soon as it is free, feedback follows.

``autograde serve`` (:mod:`autograde.service.commands`) runs :mod:`autograde.service.app` on
uvicorn: a durable queue and the submissions' history in the service's own tables
(:mod:`autograde.service.store`), tokens (:mod:`autograde.service.tokens`), the course's policy
(:mod:`autograde.service.policy`), the checks a submission passes before it is kept
(:mod:`autograde.service.intake`) and the grading threads (:mod:`autograde.service.grading`),
which grade through the pipeline's own jobs. nbgrader's exchange speaks to it through
:mod:`autograde.exchange`. This package's ``__init__`` imports nothing, so that ``autograde
--help`` does not load Starlette.
"""

"""The grading pipeline for a course server: release, grade, demo, backends."""

__version__ = "0.1.0"

"""Reference solutions of lessons/exercises/, one file each with the stub's signatures.

They exist so that the grader's tests can show a right answer passes; grading never imports
them (it loads the student's file by path), and students are pointed at the stubs only.
"""

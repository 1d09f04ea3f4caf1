"""TREC question classification data (Li & Roth 2002), unchanged; see README.md here.

A package only so that setuptools ships the ``*.label`` and ``*.md`` files as package data.
"""

"""Textbook applications built on pencils' expressions.

``random_features``: Mei–Montanari random-features ridge regression from
expressions (:mod:`derivations.textbook.random_features`). The example pencils
themselves ship with the library: :mod:`pencils.examples`.
"""

"""Injection attempts shared by the tests of every entry point that reads user text."""

# Injection attempts: every one must end in an error of pencils, with no side effect. They write a file
# named F in the current directory if anything evaluates them (see test_the_injections_are_live).
INJECTIONS = [
    "z + 0*len(str(__import__('os').system('touch F')))",
    '__import__("os").system("touch F")',
    "().__class__.__bases__[0].__subclasses__()",
    "lambda: open('F', 'w')",
    "exec(\"open('F', 'w')\")",
    "eval('1')",
    "open('F','w')",
    "z.__class__",
    "[open('F', 'w') for x in (1,)]",
    '"a"',
    "z; import os",
    'getattr(z, "x")',
    "z + open('F', 'w').close() - 1",
    "Symbol('F')",
    "z._sympy_()",
    "sqrt(__builtins__)",
    "z.T.__class__",
    "(z).func",
    "Function('open')('F')",
    "0 if open('F','w') else 1",
    "z\nimport os",
    "z; open('F', 'w')",
]

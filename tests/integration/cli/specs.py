"""Workflow specs the CLI tests run: the diamond from examples/, and ones that fail."""

from __future__ import annotations

from pathlib import Path

DIAMOND = (Path(__file__).parents[3] / "examples" / "diamond.yaml").read_text()

FAILING = """
name: failing
steps:
  - {id: first, uses: transform, with: {value: 1}}
  - {id: boom, uses: fail, needs: [first], with: {message: "card declined"}}
  - {id: later, uses: transform, needs: [boom], with: {value: 2}}
"""

INVALID = """
name: broken
steps:
  - {id: a, uses: transfrom, with: {value: 1}}
  - {id: b, uses: transform, needs: [aa], with: {valu: 2}}
outputs: {r: "{{ steps.b.output.value }}"}
"""

DIVIDE = """
name: divide
inputs:
  type: object
  properties: {d: {type: integer}}
  required: [d]
steps:
  - {id: a, uses: transform, with: {value: 100}}
  - {id: b, uses: transform, with: {value: "{{ steps.a.output.value // inputs.d }}"}}
  - {id: c, uses: transform, with: {value: "{{ steps.b.output.value + 1 }}"}}
outputs: {result: "{{ steps.c.output.value }}"}
"""

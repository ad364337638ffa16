"""Regions of any number of axes, shared by the kinds whose answer is a set of labelled regions: boxes on
an image (two axes) and time segments of a clip (one axis).

A region is given by its corners: an (n, 2d) array, the d low edges then the d high edges (a box: x1, y1,
x2, y2; a segment: start, end). Matching by IoU (`match`), consolidation with a Dawid–Skene model that has
"absent" as a class (`fusion`), scoring against accepted answers (`scores`) and pairwise agreement
(`agreement`) only ever see corners, so each kind keeps its own JSON form and hands corners over.
"""

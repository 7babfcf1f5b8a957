"""What leaves the service as files: iCalendar feeds of the rounds and the activity CSV.

Pure functions of rows the edges (web, CLI) read from the store: no Flask, no SQL here.
"""

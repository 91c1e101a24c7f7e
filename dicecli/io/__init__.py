"""Input and output: readers of every format, pairing of cases, label-name files, atomic outputs."""

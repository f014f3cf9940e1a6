"""U-GAT-IT (Kim et al., ICLR 2020) in TensorFlow graph mode: train, test and translate photos.

`python main.py --help` lists the flags and examples; the command line lives in ugatit/cli/
(flags in parser.py, the phase table in phases.py).
"""

import sys

from ugatit.cli import main

if __name__ == '__main__':
    sys.exit(main())

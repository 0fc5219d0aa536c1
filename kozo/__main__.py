import sys

from kozo.cli import main

sys.exit(main())

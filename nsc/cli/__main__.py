import sys

from nsc.cli import main

sys.exit(main())

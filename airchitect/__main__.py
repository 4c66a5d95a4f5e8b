import sys

from airchitect.cli import main

sys.exit(main())

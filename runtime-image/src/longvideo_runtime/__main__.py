import sys

from longvideo_runtime.cli import main

sys.exit(main())

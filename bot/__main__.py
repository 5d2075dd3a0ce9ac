import sys

from herald.bot.cli import main

sys.exit(main())

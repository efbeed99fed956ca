"""``python -m safeship.routing.proxy``: run the builtin router (see safeship.routing.proxy)."""

import sys

from safeship.routing.proxy.process import main

sys.exit(main())

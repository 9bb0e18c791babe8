"""Run a `raytl` command on a cluster's head with `ray submit`, which uploads this file and runs it there:

    ray submit --tmux clusters/aws.yaml clusters/raytl_submit.py -- \
        search '~/raytl/search_spaces/phang2020.yaml' --storage s3://<your-bucket>/raytl-runs

Everything after `--` is the `raytl` command line (search, resume, report, store, export, ...). The head's
setup commands installed raytl, and `RAY_ADDRESS=auto` there makes the search join the cluster.
"""

import os
import sys

from raytl.cli import main

if __name__ == "__main__":
    # ray submit passes arguments through without a shell, so a quoted ~ arrives unexpanded
    sys.argv = ["raytl", *(os.path.expanduser(arg) for arg in sys.argv[1:])]
    main()

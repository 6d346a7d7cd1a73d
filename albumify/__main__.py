from albumify.cli import main

raise SystemExit(main())

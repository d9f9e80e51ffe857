from warmgate.cli import main

raise SystemExit(main())

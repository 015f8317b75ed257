from openmaas.cli.main import main

raise SystemExit(main())

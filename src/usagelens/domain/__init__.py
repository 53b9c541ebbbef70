"""The pure core of usagelens: formats, rules, money and reports (standard library only)."""

"""Trial and campaign reports (HTML and Markdown, with plots), console output and live progress."""

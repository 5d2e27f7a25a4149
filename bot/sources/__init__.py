"""Where articles come from: files, text, HTML, web pages, feeds, PDFs -> `Article`."""

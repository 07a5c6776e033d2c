"""`newsletter inbox serve`: a local web app that takes links from the browser into the catalog's inbox."""

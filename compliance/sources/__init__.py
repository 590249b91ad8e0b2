"""Where rules come from: files and folders on disk, bundles over HTTP, and the watcher that reloads them."""

//! Scrape manager, service discovery and relabeling.

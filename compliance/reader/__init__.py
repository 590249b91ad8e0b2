"""Who is reading: the client address behind trusted proxies, CDN headers, GeoIP, the embedded table, anonymity."""

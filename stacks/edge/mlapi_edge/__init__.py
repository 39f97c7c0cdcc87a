"""The edge layer: CloudFront in front of the load balancer, its certificate and DNS, WAF, error pages."""

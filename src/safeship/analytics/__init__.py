"""Analytics of the deployments: the deployment report, and the measures of delivery."""

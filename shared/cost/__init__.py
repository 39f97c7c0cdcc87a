"""What an environment costs before it is deployed: the plan document priced at list prices."""

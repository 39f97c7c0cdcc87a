"""How long a request may take, and how long a stopping task is given to finish it.

A task leaves service on every deployment, scale-in and Fargate Spot interruption. The load
balancer then stops sending it new requests and waits ``DEREGISTRATION_DELAY_SECONDS`` for those in
flight; ECS sends the container SIGTERM and kills it ``STOP_TIMEOUT_SECONDS`` later. On a
deployment or scale-in the drain comes first; on a Spot interruption SIGTERM arrives as the drain
starts. Either way a request is cut unless

    longest request < deregistration delay < stop timeout <= Fargate's maximum (120 s),

and the image keeps serving what it accepted after SIGTERM (the placeholder server does).
"""

from __future__ import annotations

# The longest request the platform serves: CloudFront's origin read timeout (the edge layer's
# ORIGIN_READ_TIMEOUT), chosen for long inference. tests/test_services.py pins the two together.
LONGEST_REQUEST_SECONDS = 60
# A request accepted just before deregistration may run the full minute; 30 s of margin for the
# response to reach the load balancer. (The ALB default of 300 s would only slow deployments.)
DEREGISTRATION_DELAY_SECONDS = 90
# Fargate refuses a container stopTimeout above 120 s, which is also the Spot interruption notice.
FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 120

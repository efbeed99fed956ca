"""Railway's public GraphQL API, shared by the railway target and the railway-native path.

``client``: the API client (GraphQL, error mapping, reconciling ambiguous mutations);
``deployments``: a deployment and what its status means; ``queries``: the operations sent;
``settings``: how to reach one service. Neither adapter holds API code of its own.
"""

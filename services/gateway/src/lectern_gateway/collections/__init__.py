"""Collections: named knowledge bases, their ``/v1/collections`` routes and who may use which."""

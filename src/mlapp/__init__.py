"""GitOps ML template package."""

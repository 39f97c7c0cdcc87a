"""The offline plan: every layer's real program under the Pulumi SDK's mock runtime."""

"""The business rules of bmsync: pure logic that takes its collaborators as arguments."""

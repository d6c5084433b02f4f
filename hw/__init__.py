"""lognet.hw"""

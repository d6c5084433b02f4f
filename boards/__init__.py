"""lognet.boards"""
